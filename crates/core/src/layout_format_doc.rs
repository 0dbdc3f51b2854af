//! docs/format.md's offset tables hold the same fields as `hdr`, `sh` and
//! `rec` in layout.rs: a field added or moved in one and not the other fails
//! here. A child module of `layout`, kept in a file of its own.

use std::collections::BTreeSet;

/// The rows of each `| offset | type | field |` table of docs/format.md,
/// in order (header, shard header, record), as (offset, field text);
/// rows whose offset is not a number are left out.
fn tables() -> Vec<Vec<(u64, String)>> {
    let doc = include_str!("../../../docs/format.md");
    let mut tables = Vec::new();
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "| offset | type | field |" {
            continue;
        }
        lines.next(); // the alignment row
        let mut rows = Vec::new();
        for row in lines.by_ref().take_while(|l| l.starts_with('|')) {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
            if let (Ok(off), Some(field)) = (cells[0].trim().parse::<u64>(), cells.get(2)) {
                rows.push((off, field.trim().to_string()));
            }
        }
        tables.push(rows);
    }
    tables
}

fn same(what: &str, fields: &[(&str, u64)], rows: &[(u64, String)]) {
    let named: BTreeSet<u64> = fields
        .iter()
        .filter(|(name, _)| !name.starts_with("RESERVED"))
        .map(|&(_, off)| off)
        .collect();
    let documented: BTreeSet<u64> = rows
        .iter()
        .filter(|(_, field)| !field.starts_with("reserved"))
        .map(|&(off, _)| off)
        .collect();
    assert_eq!(
        named, documented,
        "{what}: the offsets declared in layout.rs (left) and those in docs/format.md's table (right) differ"
    );
}

#[test]
fn format_md_tables_match_the_declared_fields() {
    let t = tables();
    assert_eq!(
        t.len(),
        3,
        "docs/format.md: header, shard header and record tables"
    );
    same("header", super::hdr::FIELDS, &t[0]);
    let mut shard = super::sh::FIELDS.to_vec();
    shard.push(("LIST_ROOM", super::sh::LIST_ROOM.start));
    same("shard header", &shard, &t[1]);
    same("record header", super::rec::FIELDS, &t[2]);
}
