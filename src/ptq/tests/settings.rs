//! The names the page and the CLI accept for GPTQ's and AWQ's grids, and the ones they refuse.

use quantscope_ptq::{awq_config, gptq_grid, AwqConfig, Grid};

#[test]
fn gptq_grids_by_name() {
    assert_eq!(gptq_grid("q4_0", false, None).unwrap(), (Grid::Q4_0, Some(32)));
    assert_eq!(gptq_grid("Q4_0", true, Some(32)).unwrap(), (Grid::Q4_0, Some(32)));
    assert_eq!(gptq_grid("int4", false, Some(128)).unwrap(), (Grid::MinMax { bits: 4, symmetric: false }, Some(128)));
    assert_eq!(gptq_grid("int3", true, Some(0)).unwrap(), (Grid::MinMax { bits: 3, symmetric: true }, None));
    assert_eq!(gptq_grid("int8", false, None).unwrap(), (Grid::MinMax { bits: 8, symmetric: false }, None));
}

#[test]
fn gptq_refuses_what_it_cannot_round() {
    for (grid, group, why) in [
        ("q4_0", Some(64), "Q4_0 rounds groups of 32 columns, not 64"),
        ("int1", None, "1-bit codes"),
        ("int9", None, "9-bit codes"),
        ("int", None, "q4_0, or int2 to int8"),
        ("nf4", None, "q4_0, or int2 to int8"),
    ] {
        let e = gptq_grid(grid, false, group).unwrap_err().to_string();
        assert!(e.contains(why), "{grid}: {e}");
    }
}

#[test]
fn awq_configs_by_name() {
    assert_eq!(awq_config("q4_0", None).unwrap(), (AwqConfig::q4_0(), "Q4_0".to_string()));
    assert_eq!(awq_config("awq", None).unwrap(), (AwqConfig::llm_awq(), "int4 g128".to_string()));
    let (c, label) = awq_config("awq", Some(64)).unwrap();
    assert_eq!((c.groupsize, label.as_str()), (Some(64), "int4 g64"));
    let (c, label) = awq_config("awq", Some(0)).unwrap();
    assert_eq!((c.groupsize, label.as_str()), (None, "int4 per row"));
    assert!(awq_config("q4_0", Some(128)).unwrap_err().to_string().contains("groups of 32"));
    assert!(awq_config("int4", None).unwrap_err().to_string().contains("q4_0 or awq"));
}
