//! The project's claims catalog (`scenarios/CLAIMS.md`), compiled in so that a report lists
//! every claim, the untested ones too, whichever directory it is rendered from.

/// One claim of the catalog: its ID and the promise in one sentence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    pub id: String,
    pub text: String,
}

const CATALOG: &str = include_str!("../../scenarios/CLAIMS.md");

/// Every claim of the catalog, in its order (the rows of its table whose first cell is an ID).
pub fn catalog() -> Vec<Claim> {
    parse(CATALOG)
}

fn parse(markdown: &str) -> Vec<Claim> {
    markdown
        .lines()
        .filter_map(|line| {
            let mut cells = line.strip_prefix('|')?.split('|').map(str::trim);
            let id = cells.next()?;
            let is_id = id.len() >= 2 && id.starts_with('C') && id[1..].bytes().all(|b| b.is_ascii_digit());
            is_id.then(|| Claim { id: id.to_string(), text: cells.next().unwrap_or_default().to_string() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog_lists_its_claims_in_order() {
        let claims = catalog();
        assert!(claims.len() >= 20, "{claims:?}");
        assert_eq!(claims[0].id, "C01");
        assert!(claims[0].text.starts_with("Clients use port 9092"), "{}", claims[0].text);
        assert!(claims.iter().any(|c| c.id == "C23"));
    }

    #[test]
    fn only_rows_whose_first_cell_is_an_id_are_claims() {
        let claims = parse("| ID | Claim |\n|---|---|\n| C7 | a \\| b |\n| Cx | no |\ntext | C8 | no\n");
        assert_eq!(claims, vec![Claim { id: "C7".into(), text: "a \\".into() }]);
    }
}
