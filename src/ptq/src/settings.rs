//! The settings a person names — the page's selects and the CLI's `--grid`/`--group` — turned into
//! the algorithms' configurations in one place, so that the page and the CLI accept the same names
//! and refuse the same nonsense with the same words.

use crate::awq::AwqConfig;
use crate::grid::Grid;
use crate::{PtqError, Result};

/// The group size llama.cpp's Q4_0 blocks fix.
const Q4_0_GROUP: usize = 32;

/// GPTQ's grid and group size from their names: `grid` "q4_0" (llama.cpp's Q4_0, groups of 32) or
/// "intB" with B from 2 to 8 (the reference's min-max grid, `symmetric` or with a zero point);
/// `group` columns per group, `None` or `Some(0)` for one group per row.
pub fn gptq_grid(grid: &str, symmetric: bool, group: Option<usize>) -> Result<(Grid, Option<usize>)> {
    if grid.eq_ignore_ascii_case("q4_0") {
        return match group {
            None | Some(Q4_0_GROUP) => Ok((Grid::Q4_0, Some(Q4_0_GROUP))),
            Some(g) => Err(PtqError::Setting(format!("Q4_0 rounds groups of {Q4_0_GROUP} columns, not {g}"))),
        };
    }
    let bits = grid
        .strip_prefix("int")
        .and_then(|b| b.parse::<u32>().ok())
        .ok_or_else(|| PtqError::Setting(format!("grid '{grid}': q4_0, or int2 to int8")))?;
    if !(2..=8).contains(&bits) {
        return Err(PtqError::Setting(format!("grid '{grid}': {bits}-bit codes (2 to 8 bits are offered)")));
    }
    Ok((Grid::MinMax { bits, symmetric }, group.filter(|&g| g != 0)))
}

/// AWQ's configuration and its short label from names: `grid` "q4_0" (the searches round as the
/// Q4_0 file will, groups of 32) or "awq" (llm-awq's own int4 with a zero point, groups of `group`
/// columns, 128 unless given, 0 for one group per row).
pub fn awq_config(grid: &str, group: Option<usize>) -> Result<(AwqConfig, String)> {
    if grid.eq_ignore_ascii_case("q4_0") {
        return match group {
            None | Some(Q4_0_GROUP) => Ok((AwqConfig::q4_0(), "Q4_0".into())),
            Some(g) => Err(PtqError::Setting(format!("Q4_0 rounds groups of {Q4_0_GROUP} columns, not {g}"))),
        };
    }
    if grid != "awq" {
        return Err(PtqError::Setting(format!("grid '{grid}': q4_0 or awq")));
    }
    let config = AwqConfig { groupsize: group.or(Some(128)).filter(|&g| g != 0), ..AwqConfig::llm_awq() };
    let label = match config.groupsize {
        Some(g) => format!("int4 g{g}"),
        None => "int4 per row".into(),
    };
    Ok((config, label))
}
