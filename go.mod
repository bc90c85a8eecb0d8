module github.com/coupa-kafka/coupa-kafka

go 1.26.8
