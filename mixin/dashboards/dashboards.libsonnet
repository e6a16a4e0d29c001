// grafanaDashboards: file name -> dashboard JSON. Both use the template variables
// datasource, job, instance and pool, and link to each other (tag mysql_pool_exporter).
(import 'connection-saturation.libsonnet') +
(import 'application-pool.libsonnet')
