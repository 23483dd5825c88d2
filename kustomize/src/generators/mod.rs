//! configMapGenerator / secretGenerator.
