//! The arguments of a fold ([`req`], [`opt`], [`dft`] and tuples of them)
//! and the type-erased fold a context stores.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use super::error::{FoldFailure, Unavailable};
use super::resolve::Resolver;
use super::{downcast, AnyValue, Value};
use crate::flow::{BoxFuture, MaybeSend, MaybeSync};
use crate::BoxError;

/// A required argument: the fold runs only if the value is in the context
/// or derivable. See [`req`].
pub struct Req<T>(Value<T>);

/// An optional argument: `Some(value)` if it is in the context or
/// derivable, `None` otherwise. See [`opt`].
pub struct Opt<T>(Value<T>);

/// An argument with a default: the value if it is in the context or
/// derivable, the default otherwise. See [`dft`].
pub struct Dft<T> {
    value: Value<T>,
    default: T,
}

/// A required argument of a fold.
pub fn req<T>(value: &Value<T>) -> Req<T> {
    Req(value.clone())
}

/// An optional argument of a fold: the fold gets an `Option<T>`.
pub fn opt<T>(value: &Value<T>) -> Opt<T> {
    Opt(value.clone())
}

/// An argument of a fold with a default, used when the value is neither in
/// the context nor derivable.
pub fn dft<T>(value: &Value<T>, default: T) -> Dft<T> {
    Dft {
        value: value.clone(),
        default,
    }
}

/// One argument of a fold: [`Req`], [`Opt`] or [`Dft`]. Sealed.
pub trait Arg: MaybeSend + MaybeSync + 'static {
    /// What the fold receives for it.
    type Output: MaybeSend + 'static;

    #[doc(hidden)]
    fn name(&self) -> &str;

    #[doc(hidden)]
    fn obtain<'a>(
        &'a self,
        resolver: &'a mut Resolver,
    ) -> BoxFuture<'a, Result<Self::Output, Arc<Unavailable>>>;
}

/// The arguments of a fold: one [`Arg`], or a tuple of up to eight. Sealed.
pub trait Args: MaybeSend + MaybeSync + 'static {
    /// What the fold receives: the argument's output, or a tuple of them.
    type Output: MaybeSend + 'static;

    #[doc(hidden)]
    fn names(&self) -> Vec<String>;

    #[doc(hidden)]
    fn obtain<'a>(
        &'a self,
        resolver: &'a mut Resolver,
    ) -> BoxFuture<'a, Result<Self::Output, Lack>>;
}

/// A required argument that could not be obtained, and why.
#[doc(hidden)]
pub struct Lack {
    arg: String,
    why: Arc<Unavailable>,
}

/// Obtains one argument of a tuple, naming it if it cannot be obtained.
async fn obtain_one<A: Arg>(arg: &A, resolver: &mut Resolver) -> Result<A::Output, Lack> {
    arg.obtain(resolver).await.map_err(|why| Lack {
        arg: arg.name().to_owned(),
        why,
    })
}

/// Clones the `T` out of a stored value.
fn cloned<T: Clone + 'static>(value: &Arc<dyn AnyValue>) -> T {
    downcast::<T>(&**value).clone()
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> Arg for Req<T> {
    type Output = T;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn obtain<'a>(
        &'a self,
        resolver: &'a mut Resolver,
    ) -> BoxFuture<'a, Result<T, Arc<Unavailable>>> {
        Box::pin(async move {
            resolver
                .obtain(&self.0.info)
                .await
                .map(|value| cloned::<T>(&value))
        })
    }
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> Arg for Opt<T> {
    type Output = Option<T>;

    fn name(&self) -> &str {
        self.0.name()
    }

    fn obtain<'a>(
        &'a self,
        resolver: &'a mut Resolver,
    ) -> BoxFuture<'a, Result<Option<T>, Arc<Unavailable>>> {
        Box::pin(async move {
            match resolver.obtain(&self.0.info).await {
                Ok(value) => Ok(Some(cloned::<T>(&value))),
                // A cycle is a bug in the context, not an absence: report it.
                Err(why) if why.is_structural() => Err(why),
                Err(_) => Ok(None),
            }
        })
    }
}

impl<T: Clone + MaybeSend + MaybeSync + 'static> Arg for Dft<T> {
    type Output = T;

    fn name(&self) -> &str {
        self.value.name()
    }

    fn obtain<'a>(
        &'a self,
        resolver: &'a mut Resolver,
    ) -> BoxFuture<'a, Result<T, Arc<Unavailable>>> {
        Box::pin(async move {
            match resolver.obtain(&self.value.info).await {
                Ok(value) => Ok(cloned::<T>(&value)),
                Err(why) if why.is_structural() => Err(why),
                Err(_) => Ok(self.default.clone()),
            }
        })
    }
}

/// A single argument is its own argument list.
macro_rules! impl_args_for_single {
    ($($arg:ident),*) => {$(
        impl<T: Clone + MaybeSend + MaybeSync + 'static> Args for $arg<T> {
            type Output = <$arg<T> as Arg>::Output;

            fn names(&self) -> Vec<String> {
                vec![self.name().to_owned()]
            }

            fn obtain<'a>(
                &'a self,
                resolver: &'a mut Resolver,
            ) -> BoxFuture<'a, Result<Self::Output, Lack>> {
                Box::pin(obtain_one(self, resolver))
            }
        }
    )*};
}

impl_args_for_single!(Req, Opt, Dft);

impl Args for () {
    type Output = ();

    fn names(&self) -> Vec<String> {
        Vec::new()
    }

    fn obtain<'a>(&'a self, _: &'a mut Resolver) -> BoxFuture<'a, Result<(), Lack>> {
        Box::pin(async { Ok(()) })
    }
}

/// Arguments are obtained left to right; the first that cannot be obtained
/// stops the fold (the others are not derived: no useless DNS lookups).
macro_rules! impl_args_for_tuple {
    ($($arg:ident . $index:tt),+) => {
        impl<$($arg: Arg),+> Args for ($($arg,)+) {
            type Output = ($($arg::Output,)+);

            fn names(&self) -> Vec<String> {
                vec![$(self.$index.name().to_owned()),+]
            }

            fn obtain<'a>(
                &'a self,
                resolver: &'a mut Resolver,
            ) -> BoxFuture<'a, Result<Self::Output, Lack>> {
                Box::pin(async move {
                    Ok::<_, Lack>(($(obtain_one(&self.$index, resolver).await?,)+))
                })
            }
        }
    };
}

impl_args_for_tuple!(A.0);
impl_args_for_tuple!(A.0, B.1);
impl_args_for_tuple!(A.0, B.1, C.2);
impl_args_for_tuple!(A.0, B.1, C.2, D.3);
impl_args_for_tuple!(A.0, B.1, C.2, D.3, E.4);
impl_args_for_tuple!(A.0, B.1, C.2, D.3, E.4, F.5);
impl_args_for_tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6);
impl_args_for_tuple!(A.0, B.1, C.2, D.3, E.4, F.5, G.6, H.7);

/// What running a fold gave.
pub(super) enum FoldRun {
    Produced(Arc<dyn AnyValue>),
    Failed(FoldFailure),
}

/// A fold with its types erased, as a context stores it.
pub(super) trait ErasedFold: MaybeSend + MaybeSync {
    fn run<'a>(&'a self, resolver: &'a mut Resolver) -> BoxFuture<'a, FoldRun>;
}

/// A fold: its arguments and its function.
pub(super) struct Fold<A, K, T> {
    args: A,
    k: K,
    _output: PhantomData<fn() -> T>,
}

impl<A, K, T> Fold<A, K, T> {
    pub(super) fn new(args: A, k: K) -> Self {
        Fold {
            args,
            k,
            _output: PhantomData,
        }
    }
}

impl<A, K, Fut, T> ErasedFold for Fold<A, K, T>
where
    A: Args,
    K: Fn(A::Output) -> Fut + MaybeSend + MaybeSync + 'static,
    Fut: Future<Output = Result<Option<T>, BoxError>> + MaybeSend + 'static,
    T: MaybeSend + MaybeSync + 'static,
{
    fn run<'a>(&'a self, resolver: &'a mut Resolver) -> BoxFuture<'a, FoldRun> {
        Box::pin(async move {
            let args = match self.args.obtain(resolver).await {
                Ok(args) => args,
                Err(Lack { arg, why }) => {
                    let args = self.args.names();
                    return FoldRun::Failed(FoldFailure::Lacked { args, arg, why });
                }
            };
            match (self.k)(args).await {
                Ok(Some(value)) => FoldRun::Produced(Arc::new(value)),
                Ok(None) => FoldRun::Failed(FoldFailure::Declined {
                    args: self.args.names(),
                }),
                Err(error) => FoldRun::Failed(FoldFailure::Failed {
                    args: self.args.names(),
                    error: Arc::from(error),
                }),
            }
        })
    }
}
