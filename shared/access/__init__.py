"""Who may call what: named credentials with roles, stored hashed in the installation's
``access`` schema, which every service reads (it is the installation's identity store, as a
company's single sign-on would be, not any one service's data)."""
