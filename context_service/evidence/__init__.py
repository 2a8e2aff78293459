"""Evidence sources: feeds that bring news, sentiment and market-wide data into the lanes."""
