//! A small stderr logger.
