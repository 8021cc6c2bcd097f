pub mod cluster;
pub mod dataflow;
pub mod error;
pub mod memory;
pub mod output;
