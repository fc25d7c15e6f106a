//! Bytes a PostgreSQL store holds: every table of the database with its indexes and TOAST.

pub fn postgres_bytes(url: &str) -> u64 {
    let url = url.to_string();
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        c.batch_execute("VACUUM ANALYZE").ok();
        let row = c
            .query_one(
                "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
                   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'r' AND n.nspname = 'public'",
                &[],
            )
            .expect("sizes");
        row.get::<_, i64>(0) as u64
    })
    .join()
    .expect("measuring PostgreSQL")
}
