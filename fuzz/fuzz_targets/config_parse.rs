#![no_main]
//! cargo fuzz run config_parse (see fuzz/README.md); the body is shared with tests/properties.rs.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| mysql_pool_exporter_fuzz::config_parse(data));
