"""Reports: monthly school report, weekly live cases, quarterly performance, rule quality."""
