//! Template expansion of alert labels and annotations.
