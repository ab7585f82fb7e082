use sqlx::{Arguments, Connection, SqliteConnection};

use super::Sql;

#[test]
fn values_are_tuples_of_placeholders_in_the_order_bound() {
    let rows = [("a", 1_i64), ("b", 2), ("c", 3)];
    let mut sql = Sql::new();
    sql.push("insert into t (name, n) ")
        .push_values(&rows, |mut values, (name, n)| {
            values.push_bind(*name).push_bind(*n);
        })
        .push(" on conflict do nothing");

    assert_eq!(
        sql.text,
        "insert into t (name, n) values (?, ?), (?, ?), (?, ?) on conflict do nothing"
    );
    assert_eq!(Arguments::len(&sql.arguments), 6);
}

#[test]
fn a_separated_list_ends_where_the_caller_says() {
    let mut sql = Sql::new();
    sql.push("insert into t (name, n) values (");
    sql.separated(", ")
        .push_bind("a")
        .push_bind(1_i64)
        .push_unseparated(")");

    assert_eq!(sql.text, "insert into t (name, n) values (?, ?)");
}

/// The statements run as written, with each value where its `?` is, and clearing
/// leaves nothing of the last statement behind.
#[tokio::test]
async fn statements_run_with_their_values_and_clear_for_the_next() {
    let mut conn = SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("an in-memory SQLite connection");
    sqlx::query("create table t (name text not null, n integer, x real)")
        .execute(&mut conn)
        .await
        .expect("create the table");
    let rows = [("a", Some(1_i64), 0.5), ("b", None, 1.5)];

    let mut sql = Sql::new();
    sql.push("insert into t (name, n, x) ")
        .push_values(&rows, |mut values, (name, n, x)| {
            values.push_bind(*name).push_bind(*n).push_bind(*x);
        })
        .push(";\n");
    sql.push("insert into t (name, n, x) values (");
    sql.separated(", ")
        .push_bind("c")
        .push_bind(3_i64)
        .push_bind(2.5_f64)
        .push_unseparated(")");
    sql.query()
        .expect("the query")
        .execute(&mut conn)
        .await
        .expect("insert");
    sql.clear();
    let count: i64 = sql
        .push("select count(*) from t where n is null and name = ")
        .push_bind("b")
        .query_scalar()
        .expect("the query")
        .fetch_one(&mut conn)
        .await
        .expect("count");

    let stored: Vec<(String, Option<i64>, f64)> =
        sqlx::query_as("select name, n, x from t order by name")
            .fetch_all(&mut conn)
            .await
            .expect("the rows");
    assert_eq!(
        stored,
        vec![
            ("a".to_owned(), Some(1), 0.5),
            ("b".to_owned(), None, 1.5),
            ("c".to_owned(), Some(3), 2.5),
        ]
    );
    assert_eq!(count, 1);
    conn.close().await.expect("close");
}
