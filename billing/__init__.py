"""billing: invoices (Factur-X), penalties, price revision and paid charging (issue 15)."""
