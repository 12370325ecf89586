//! Kiln's update server: Balrog-compatible client endpoint, rules engine and admin API on SQLite
