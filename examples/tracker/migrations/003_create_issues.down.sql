DROP TABLE issues;
