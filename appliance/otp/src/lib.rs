//! The appliance's OTP core: LinOTP-compatible one-time password checks.
//!
//! Layers, each using only those above it:
//! - [`hotp`]: RFC 4226 HOTP and RFC 6238 TOTP;
//! - [`names`], [`crypto`]: checked names; the 96-byte database key, sealed
//!   seeds, Argon2id PINs and the key-check value;
//! - [`token`]: the token record and LinOTP's rules as a pure state machine;
//! - [`policy`], [`directory`]: policies, users, resolvers and realms;
//! - [`store`]: the [`store::TokenStore`] trait, in memory and on MariaDB;
//! - [`api`], [`audit`]: the `validate/check` envelope and the audit log;
//! - [`service`], [`admin`]: `validate/check`, self-service resync and the
//!   admin operations on top of a store.
//!
//! Only [`http`] speaks HTTP: it maps the `validate` routes onto
//! [`service`]; the core does not depend on it.

pub mod admin;
pub mod api;
pub mod audit;
pub mod crypto;
pub mod directory;
pub mod hotp;
pub mod http;
pub mod names;
pub mod policy;
pub mod service;
pub mod store;
pub mod token;

#[cfg(test)]
mod tests;
