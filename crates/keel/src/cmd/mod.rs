pub mod client;
pub mod convert;
pub mod forecast;
pub mod gentm;
pub mod serve;
pub mod solve;
pub mod topo;
pub mod whatif;
