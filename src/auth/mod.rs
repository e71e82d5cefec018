//! Bearer JWT authentication: key material, verification, the middleware
//! that verifies a request's token once, and the `Caller` / `MaybeCaller`
//! extractors handlers use.

mod authenticator;
mod caller;
mod keys;
mod recent;
mod verifier;

pub use authenticator::{Authenticator, Identity, LEEWAY_SECONDS, MAX_SUBJECT_CHARS};
pub use caller::{Caller, Credentials, MaybeCaller, authenticate};
pub use keys::{Signer, generate_secret, load_or_create_secret, read_secret};
pub use verifier::KeyConfig;
