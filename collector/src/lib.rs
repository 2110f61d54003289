//! clicktrail collector (placeholder, being written).
