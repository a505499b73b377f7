-- One database per service (the architecture's "one database or schema per service").
CREATE DATABASE mes_psc;
CREATE DATABASE mes_dmp;
CREATE DATABASE mes_mss;
CREATE DATABASE mes_catalog;
CREATE DATABASE mes_console;
