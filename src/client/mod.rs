//! Chat clients for both transports.
