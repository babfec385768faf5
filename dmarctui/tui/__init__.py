"""The Textual shell: screens and widgets that render what the core and the index provide."""
