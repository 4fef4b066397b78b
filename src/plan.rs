//! A validated scenario bound to the inventory: what will run, on which node.
