//! Shared test helpers.

pub mod hand_wired;
