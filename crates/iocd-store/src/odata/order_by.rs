//! The `$orderby` parser: comma-separated sortable fields, each `asc` or `desc`.

use super::{Entity, Field, FieldKind, ODataError, OrderKey, err};

/// Parses `$orderby` over indicators: comma-separated `field [asc|desc]`.
pub fn parse_order_by(input: &str) -> Result<Vec<OrderKey>, ODataError> {
    parse_order_by_for(Entity::Indicator, input)
}

/// Most keys one `$orderby` holds (there are fewer sortable properties than this).
pub const MAX_ORDER_KEYS: usize = 32;

/// Parses `$orderby` over `entity`.
pub fn parse_order_by_for(entity: Entity, input: &str) -> Result<Vec<OrderKey>, ODataError> {
    let mut keys = Vec::new();
    for part in input.split(',') {
        if keys.len() == MAX_ORDER_KEYS {
            return err(format!("$orderby has more than {MAX_ORDER_KEYS} keys"));
        }
        let mut words = part.split_whitespace();
        let Some(name) = words.next() else {
            return err("$orderby has an empty item");
        };
        let field = Field::parse_in(entity, name)
            .ok_or_else(|| ODataError(format!("cannot order by unknown property '{name}'")))?;
        if matches!(
            field.kind(),
            FieldKind::TextCollection | FieldKind::IntegerCollection
        ) {
            return err(format!("cannot order by the collection {name}"));
        }
        let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => {
                return err(format!(
                    "expected asc or desc after {name}, found '{other}'"
                ));
            }
        };
        if words.next().is_some() {
            return err(format!(
                "unexpected text after '{}' in $orderby",
                part.trim()
            ));
        }
        keys.push(OrderKey { field, descending });
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_by() {
        let keys = parse_order_by("severity desc, id").unwrap();
        assert_eq!(
            keys,
            vec![
                OrderKey {
                    field: Field::Severity,
                    descending: true
                },
                OrderKey {
                    field: Field::Id,
                    descending: false
                }
            ]
        );
        assert!(parse_order_by("rbacGroupNames").is_err());
        assert!(parse_order_by("title sideways").is_err());
        assert!(parse_order_by("nosuch").is_err());
        let many = vec!["id"; MAX_ORDER_KEYS + 1].join(",");
        assert!(parse_order_by(&many).is_err());
        assert!(parse_order_by(&vec!["id"; MAX_ORDER_KEYS].join(",")).is_ok());
    }
}
