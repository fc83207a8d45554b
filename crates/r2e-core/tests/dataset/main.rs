//! Integration tests of the dataset layer, on real files in the published datasets'
//! shapes (one test binary, to keep linking cheap).

mod common;
mod files;
mod rows;
