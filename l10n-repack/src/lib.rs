//! Locale and partner repack engine
