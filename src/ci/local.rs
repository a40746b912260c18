//! A laptop or any CI we do not know: flags and `BINAUTHZ_*` variables in, JSON on stdout out.

use super::{Ci, CiName};

pub struct Local;

impl Ci for Local {
    fn name(&self) -> CiName {
        CiName::Local
    }
}
