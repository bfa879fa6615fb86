//! The `command` module. (Stub: to be written.)

use crate::spec::{Arg, Args};
use crate::{Ctx, Module, ModuleError, Plan, ResultMap};

pub struct Command;

impl Module for Command {
    const SPECS: &'static [&'static [Arg]] = &[];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(_args: &Args, _observed: &(), _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        Err(ModuleError::new(
            "the command module is not implemented yet",
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

/// The `shell` module: `command` through `/bin/sh -c`.
pub struct Shell;

impl Module for Shell {
    const SPECS: &'static [&'static [Arg]] = &[];
    type Observed = ();
    type Op = ();

    fn observe(_args: &Args, _ctx: &Ctx<'_>) -> Result<(), ModuleError> {
        Ok(())
    }

    fn plan(_args: &Args, _observed: &(), _ctx: &Ctx<'_>) -> Result<Plan<()>, ModuleError> {
        Err(ModuleError::new("the shell module is not implemented yet"))
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
