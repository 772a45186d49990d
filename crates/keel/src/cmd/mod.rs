pub mod convert;
pub mod gentm;
pub mod solve;
pub mod topo;
pub mod whatif;
