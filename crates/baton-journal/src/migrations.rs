//! Whether a database has every embedded migration, for `Journal::ready`.

use std::collections::HashMap;

use sqlx::migrate::Migrator;

/// Whether each of the migrator's migrations is among the applied ones
/// (`_sqlx_migrations` rows with `success`), with the same checksum. Extra applied
/// migrations, from a newer binary, do not matter.
pub(crate) fn all_applied(migrator: &Migrator, applied: &[(i64, Vec<u8>)]) -> bool {
    let applied: HashMap<i64, &[u8]> = applied
        .iter()
        .map(|(version, checksum)| (*version, checksum.as_slice()))
        .collect();
    migrator
        .iter()
        .filter(|migration| !migration.migration_type.is_down_migration())
        .all(|migration| {
            applied
                .get(&migration.version)
                .is_some_and(|checksum| *checksum == migration.checksum.as_ref())
        })
}
