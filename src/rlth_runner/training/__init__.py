"""Everything that happens inside one round's fit."""
