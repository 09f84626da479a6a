"""The supply-chain view: workplaces, suppliers, brands and brand reports."""
