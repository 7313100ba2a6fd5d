//! The policy's pieces: which addresses are public, how targets and
//! bridge URLs are read.

use std::net::IpAddr;

use super::{destination, is_public, Destination, Policy, Refusal, Target};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn only_public_addresses_are_public() {
    for public in ["93.184.215.14", "1.1.1.1", "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "::ffff:8.8.8.8"] {
        assert!(is_public(ip(public)), "{public}");
    }
    let private = [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "255.255.255.255", "224.0.0.1", "192.0.2.1", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:127.0.0.1",
    ];
    for address in private {
        assert!(!is_public(ip(address)), "{address}");
    }
}

#[test]
fn targets_are_host_and_port() {
    assert_eq!(Target::parse("Example.COM:443").unwrap(), Target { host: "example.com".into(), port: 443 });
    let v6 = Target::parse("[::1]:8443").unwrap();
    assert_eq!((v6.host.as_str(), v6.port), ("::1", 8443));
    assert_eq!(v6.to_string(), "[::1]:8443");
    for bad in ["example.com", "example.com:0", "example.com:99999", ":443", "a b:1", "::1:443x", "exa/mple:1"] {
        assert!(matches!(Target::parse(bad), Err(Refusal::Invalid(_))), "{bad}");
    }
}

#[test]
fn the_url_names_one_target_or_asks_for_wisp() {
    let one = |uri: &str| match destination(&uri.parse().unwrap()) {
        Destination::One(target) => target.map(|t| t.to_string()).map_err(|e| e.to_string()),
        Destination::Wisp => Err("wisp".into()),
    };
    assert_eq!(one("/example.com:443").unwrap(), "example.com:443");
    assert_eq!(one("/bridge/example.com:443").unwrap(), "example.com:443");
    assert_eq!(one("/?target=example.com%3A443").unwrap(), "example.com:443");
    assert_eq!(one("/x?a=1&target=%5B%3A%3A1%5D%3A443").unwrap(), "[::1]:443");
    assert_eq!(one("/").unwrap_err(), "wisp");
    assert_eq!(one("/wisp/").unwrap_err(), "wisp");
    assert!(one("/nothing").unwrap_err().contains("is not HOST:PORT"));
}

#[test]
fn a_listed_address_may_be_private_and_a_name_may_not_lead_to_one() {
    let policy = Policy::new([Target::parse("intranet.test:80").unwrap(), Target::parse("10.0.0.5:80").unwrap()]);
    let name = Target::parse("intranet.test:80").unwrap();
    let resolved = vec!["10.0.0.5:80".parse().unwrap(), "10.0.0.6:80".parse().unwrap()];
    assert_eq!(policy.usable(&name, resolved).unwrap(), vec!["10.0.0.5:80".parse().unwrap()]);
    let refused = policy.usable(&name, vec!["10.0.0.6:80".parse().unwrap()]).unwrap_err();
    assert_eq!(refused.to_string(), "bridge: intranet.test:80 resolves to the non-public address 10.0.0.6, which the allow-list does not name");
    let localhost = Policy::new([Target::parse("localhost:8080").unwrap()]);
    let target = Target::parse("localhost:8080").unwrap();
    assert!(localhost.usable(&target, vec!["127.0.0.1:8080".parse().unwrap()]).is_ok());
    assert!(localhost.check_target(&Target::parse("localhost:8081").unwrap()).is_err());
}
