use super::*;
use crate::rt::native::Tokio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Copies `data` through a fault flow to a plain pipe end; what arrives.
async fn through(faults: Faults, seed: u64, data: &[u8]) -> (io::Result<()>, Vec<u8>) {
    let (near, mut far) = Flow::pipe(1 << 16);
    let mut flow = FaultFlow::new(near, faults, seed, Tokio);
    let written = async {
        for chunk in data.chunks(100) {
            flow.write_all(chunk).await?;
        }
        flow.shutdown().await
    };
    let mut got = Vec::new();
    let read = far.read_to_end(&mut got);
    let (written, _) = tokio::join!(written, read);
    (written, got)
}

#[tokio::test]
async fn benign_faults_lose_nothing_and_split_writes() {
    let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    let (written, got) = through(Faults::benign(), 7, &data).await;
    written.unwrap();
    assert_eq!(got, data);
}

#[tokio::test]
async fn the_same_seed_truncates_at_the_same_byte() {
    let faults = Faults { truncate: 0.05, split: 0.5, ..Faults::default() };
    let data = vec![b'x'; 5_000];
    let (_, first) = through(faults, 42, &data).await;
    let (_, second) = through(faults, 42, &data).await;
    assert!(first.len() < data.len(), "a truncation within 5000 bytes at 5 % per write");
    assert_eq!(first.len(), second.len(), "reproducible");
    let (_, other) = through(faults, 43, &data).await;
    assert_ne!(first.len(), other.len(), "another seed, another cut");
}

#[tokio::test]
async fn a_reset_fails_every_later_operation() {
    let (near, _far) = Flow::pipe(64);
    let mut flow = FaultFlow::new(near, Faults { reset: 1.0, ..Faults::default() }, 1, Tokio);
    let err = flow.write_all(b"x").await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    assert!(flow.is_reset());
    let mut buf = [0u8; 4];
    assert_eq!(flow.read(&mut buf).await.unwrap_err().kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn a_stalled_read_never_completes() {
    let (near, mut far) = Flow::pipe(64);
    far.write_all(b"data").await.unwrap();
    let mut flow = FaultFlow::new(near, Faults { stall: 1.0, ..Faults::default() }, 1, Tokio);
    let mut buf = [0u8; 4];
    let read = tokio::time::timeout(Duration::from_millis(50), flow.read(&mut buf)).await;
    assert!(read.is_err(), "stalled");
}

#[tokio::test]
async fn a_fault_listener_wraps_every_connection_and_mimic_picks_the_fault_protocol() {
    let (listener, connector) = crate::rt::pipes(Tokio, 64);
    let mut listener = FaultListener::new(listener, Faults::benign(), 3);
    let injector = Injector::new(Faults::benign(), 3, Tokio);
    let (endpoint, witness) = register("fault-pipe", 10, injector.clone(), move |(): ()| {
        let connector = connector.clone();
        async move { connector.connect() }
    });
    let ctx = mimic::Ctx::new().add(&endpoint, ());
    let mut client = mimic::resolve(&ctx).await.unwrap();
    assert!(witness.is(&client));
    let (mut server, endpoints) = listener.accept().await.unwrap();
    assert_eq!(endpoints.peer.to_string(), "pipe#0");
    assert!(server.is::<FaultFlow>());
    client.write_all(b"hello").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = String::new();
    server.read_to_string(&mut got).await.unwrap();
    assert_eq!(got, "hello");
    assert_eq!((injector.count(), listener.injector().count()), (1, 1));
}

#[test]
fn the_generator_is_reproducible_and_roughly_fair() {
    let mut a = SplitMix64::new(9);
    let mut b = SplitMix64::new(9);
    assert!((0..100).all(|_| a.next_u64() == b.next_u64()));
    let hits = (0..10_000).filter(|_| a.chance(0.25)).count();
    assert!((2_000..3_000).contains(&hits), "{hits}");
    assert!((0..1000).all(|_| a.below(7) < 7));
    assert!(!a.chance(0.0));
}
