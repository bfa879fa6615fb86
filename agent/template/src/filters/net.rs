//! ansible.utils ipaddr family (ipaddr, ipv4, ipv6, ipmath, ipsubnet, nthhost): not implemented yet; registers nothing.

use minijinja::Environment;

pub(crate) fn register(env: &mut Environment<'static>) {
    let _ = env;
}
