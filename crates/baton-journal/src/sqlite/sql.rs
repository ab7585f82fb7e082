//! Statement text and its arguments, built for the writer's multi-row statements.
//!
//! sqlx's `QueryBuilder` writes every fragment, separator and `?` it is given through
//! `core::fmt` (`write!` of a `Display`), some 140 instructions each, and a batch's
//! statements push one per bound value: 3.7 % of W3's instructions on SQLite
//! (`callgrind`, BENCHMARKS.md). Here they are appended to the text as they are.

use baton_core::journal::JournalError;
use sqlx::error::BoxDynError;
use sqlx::query::{Query, QueryScalar};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Encode, Sqlite, Type};

use crate::error::corrupt;

/// A statement (or several, `;`-separated) with the values of its `?`s, in order.
pub(super) struct Sql<'q> {
    text: String,
    arguments: SqliteArguments<'q>,
    /// Why a value could not be bound, if one could not; building the query reports
    /// it (SQLite takes every type the journal binds, so this is not expected).
    error: Option<BoxDynError>,
}

impl<'q> Sql<'q> {
    pub(super) fn new() -> Self {
        Sql {
            text: String::new(),
            arguments: SqliteArguments::default(),
            error: None,
        }
    }

    /// Appends statement text.
    pub(super) fn push(&mut self, sql: &str) -> &mut Self {
        self.text.push_str(sql);
        self
    }

    /// Appends a `?` and binds `value` to it.
    pub(super) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        if let Err(error) = Arguments::add(&mut self.arguments, value) {
            self.error.get_or_insert(error);
        }
        self.text.push('?');
        self
    }

    /// Starts a list whose bound values are separated by `separator`.
    pub(super) fn separated(&mut self, separator: &'static str) -> Separated<'_, 'q> {
        Separated {
            sql: self,
            separator,
            first: true,
        }
    }

    /// Appends `values (…), (…)`, one tuple per row, whose values `push_row` binds.
    pub(super) fn push_values<I, F>(&mut self, rows: I, mut push_row: F) -> &mut Self
    where
        I: IntoIterator,
        F: FnMut(Separated<'_, 'q>, I::Item),
    {
        self.text.push_str("values ");
        for (index, row) in rows.into_iter().enumerate() {
            self.text.push_str(if index == 0 { "(" } else { ", (" });
            push_row(self.separated(", "), row);
            self.text.push(')');
        }
        self
    }

    /// The query, taking the arguments bound so far (call [`Sql::clear`] before
    /// writing the next).
    pub(super) fn query(&mut self) -> Result<Query<'_, Sqlite, SqliteArguments<'_>>, JournalError> {
        let arguments = self.take_arguments()?;
        Ok(sqlx::query_with(&self.text, arguments))
    }

    /// As [`Sql::query`], for a statement that returns one value.
    pub(super) fn query_scalar<T>(
        &mut self,
    ) -> Result<QueryScalar<'_, Sqlite, T, SqliteArguments<'_>>, JournalError>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
    {
        let arguments = self.take_arguments()?;
        Ok(sqlx::query_scalar_with(&self.text, arguments))
    }

    /// Empties the text and the arguments, keeping the text's room.
    pub(super) fn clear(&mut self) {
        self.text.clear();
        self.arguments = SqliteArguments::default();
        self.error = None;
    }

    fn take_arguments(&mut self) -> Result<SqliteArguments<'q>, JournalError> {
        if let Some(error) = self.error.take() {
            return Err(corrupt("bound value", error));
        }
        Ok(std::mem::take(&mut self.arguments))
    }
}

/// Bound values with a separator between them (see [`Sql::separated`]).
pub(super) struct Separated<'s, 'q> {
    sql: &'s mut Sql<'q>,
    separator: &'static str,
    first: bool,
}

impl<'q> Separated<'_, 'q> {
    /// Appends the separator (except before the first), a `?`, and binds `value`.
    pub(super) fn push_bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite>,
    {
        if !self.first {
            self.sql.text.push_str(self.separator);
        }
        self.first = false;
        self.sql.push_bind(value);
        self
    }

    /// Appends statement text without a separator.
    pub(super) fn push_unseparated(&mut self, sql: &str) -> &mut Self {
        self.sql.push(sql);
        self
    }
}

#[cfg(test)]
mod tests;
