//! The explore server (to come).
