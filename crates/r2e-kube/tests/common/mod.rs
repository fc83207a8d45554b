//! Shared by the integration tests: the provider-independent sandbox suite.

pub mod conformance;
