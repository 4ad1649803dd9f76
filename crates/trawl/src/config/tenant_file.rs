//! One tenant file read on its own, exactly as a file of `tenants_dir` is read, with the
//! main file's `[defaults]` under it: `trawl preflight --tenant-file` checks a
//! customer's tenant before the file goes into `tenants_dir`.

use std::path::Path;

use trawl_engine::config::{StreamSettings, TenantSpec};

use super::error::{ConfigErrors, Problems};
use super::fields::Table;
use super::{raw, tenant};

/// Reads the tenant of the file at `path`; every problem, each naming the file.
pub fn load_tenant_file(path: &Path, defaults: StreamSettings) -> Result<TenantSpec, ConfigErrors> {
    let mut p = Problems::new();
    p.set_file(Some(path));
    let spec = raw::read_file(path, &mut p)
        .and_then(|text| raw::parse_toml(&text, &mut p))
        .ok()
        .and_then(|tree| {
            let t = Table::from_dict(&tree, String::new(), None, &mut p);
            tenant::tenant(&t, defaults, &mut p)
        });
    p.set_file(None);
    match spec {
        Some(spec) if p.errors.is_empty() => Ok(spec),
        _ => Err(ConfigErrors(p.errors)),
    }
}
