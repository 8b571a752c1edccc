{
  "targets": [
    {
      "target_name": "peercomm",
      "sources": ["native/addon.c", "native/aead.c", "native/buffer-pool.c"],
      "cflags": ["-O3", "-Wall", "-Wextra", "-std=c11", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8", "OPENSSL_API_COMPAT=30000", "OPENSSL_NO_DEPRECATED"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-Wall", "-Wextra"] }
    }
  ]
}
