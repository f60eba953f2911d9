//! The sandbox Kubernetes API server (being written).
