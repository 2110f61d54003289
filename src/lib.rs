//! clicktrail tracker (placeholder, being written).
