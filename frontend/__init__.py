"""Templates, static assets and Jinja filters shared by every portal."""
