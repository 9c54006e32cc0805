//! What `mxmod`'s macros (at compile time) and `mxmod` itself (at run time) both need to
//! know, written once: the callback categories with their callbacks and signatures, and
//! the rules for a web-resource mount path. No dependencies, so the proc-macro crate can
//! use it too.

pub mod category;
mod signatures;
pub mod web_path;

pub use category::{category_of, signature_of, Category, Signature, CATEGORIES};
