//! The `tempfile` module. (Stub: to be written.)

use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Tempfile;

impl Module for Tempfile {
    const SPECS: &'static [&'static [Arg]] = &[];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(_args: &Args, _observed: &(), _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        Err(ModuleError::new(
            "the tempfile module is not implemented yet",
        ))
    }

    fn apply(
        _args: &Args,
        _observed: (),
        _plan: &Plan<()>,
        _ctx: &Ctx<'_>,
    ) -> Result<ResultMap, ModuleError> {
        Ok(ResultMap::new())
    }
}
