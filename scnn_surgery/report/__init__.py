"""What is shown to a person: HTML pages, pictures of graphs and changes."""
