"""`make bench`: shop's speed as ratios to ceilings measured in the same run."""
