//! Mozilla ARchive (MAR) support for Kiln.
#![deny(missing_docs)]

pub mod keys;
